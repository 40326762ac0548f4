"""A tiny container for the local cloud's own tests: what a task sees, over HTTP.

GET /health      200 (the container health check and the target group's)
GET /env?n=NAME  the value of an environment variable (secrets arrive as such)
GET /whoami      the caller identity of the task role's credentials (sts:GetCallerIdentity)
GET /exit?code=N the process exits with N
SIGTERM          exits 0 after writing "stopping", unless ECHO_IGNORE_SIGTERM is set
Every request is logged as one line with its X-Request-ID.
"""
