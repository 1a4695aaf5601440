"""The desktop window (PySide6 + pyqtgraph): thin views over the runner and the session files."""

from tfcompare.gui._none_guard import protect_none

protect_none()
