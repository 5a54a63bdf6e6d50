"""One thin entry point per DVC stage (``python -m stages.<name>``).

A Ctrl-C while a stage is still importing its libraries (a second or two) ends it with the
same one line as later on, not with a traceback from deep inside an import; from then on
:func:`pipeline.runtime.stage.run_stage` handles it. Only when run as ``python -m``, so importing a
stage module in a test leaves the test runner's own Ctrl-C handling alone.
"""

import sys

if sys.argv[:1] == ["-m"]:
    from pipeline.runtime.stage import exit_on_interrupt

    exit_on_interrupt()
