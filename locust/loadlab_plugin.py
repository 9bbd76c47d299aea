"""Load board-loadlab's plugin beside any locustfile: ``locust -f loadlab_plugin.py,your_locustfile.py``.

A file, because Locust's -f takes files; the plugin itself is the package module ``loadsuite.plugin``, so
importing it from your locustfile instead (``import loadsuite.plugin``) gives the same, once.
"""

from loadsuite import plugin  # noqa: F401
