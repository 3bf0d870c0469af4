"""The app's tabs, one module each. ``app.py`` lays them out and wires them together; the logic
they call lives in the ``lego`` package and is testable without a browser."""
