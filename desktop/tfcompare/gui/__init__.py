"""The desktop window (PySide6 + pyqtgraph): thin views over the runner and the session files."""
