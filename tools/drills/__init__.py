"""Release drills: the release path rehearsed on the running local stack (`make drill`).

`releases` builds real releases (good ones, and bad ones with one deliberate defect each) from
the working tree; `stack` reads the stack and runs the documented commands; `drills` holds one
function per drill; `__main__` runs them in order and prints one line each. docs/delivery.md
("Drills") lists what each drill proves and the figures of the last run.
"""
