"""The local cloud: AWS as the Loopin stack meets it, on one machine, on loopback only.

Two processes, split where AWS itself splits:

* ``localcloud.emulator`` is the control plane: moto's server, plus what moto leaves out and
  AWS does on its own side of the API (each gap closed in a module of ``emulator/patches``), and
  a private API under ``/_localcloud/`` through which the data plane reports what only AWS's
  hosts know (a task's state, a target's health).
* ``localcloud.dataplane`` plays the hosts: the ECS agent that runs each service's tasks, the
  load balancer in front of them, the log driver and the ElastiCache nodes.

docs/local-cloud.md describes what is modelled and what is not.
"""
