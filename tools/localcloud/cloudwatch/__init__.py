"""CloudWatch's own logic, pure Python: what the emulator's patches run on moto's backends.

``filter_pattern`` (CloudWatch Logs filter patterns), ``metric_math`` (alarm and GetMetricData
expressions), ``store`` (the indexed, bounded metric store), ``evaluation`` (an alarm's state from
its datapoints), ``scaling`` (Application Auto Scaling's capacity arithmetic) and ``schedule``
(rate/cron/at expressions). Nothing here imports moto, so each is unit-tested in milliseconds.
"""
