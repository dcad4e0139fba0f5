"""Pictures of graphs: Graphviz drawing (dot.py), folding of large graphs
(collapse.py), user-facing names (names.py) and the stages report (report.py).
The public entry points live in graphad/render.py."""
