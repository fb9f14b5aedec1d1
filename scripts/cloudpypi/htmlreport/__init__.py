"""A picture of the mirror: one self-contained HTML page (`cloudpypi report --html FILE`).

* ``model.py``: the page's figures as plain values, parsed from run reports, the state and cost data (pure);
* ``sources.py``: reading those inputs (a directory of run reports, a ``cloudpypi costs --json`` file);
* ``svg.py``: line and bar charts as inline SVG (pure);
* ``page.py``: the page itself, from the model (pure; the template is ``templates/report.html.j2``).

The page fetches nothing when it is opened: no script, style, font or image comes from anywhere but the file
itself, and its Content-Security-Policy says so to the browser.
"""
