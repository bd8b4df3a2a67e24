"""The fleet: many machines following feeds on Ray, with the store (PostgreSQL) as the one shared
state. A controller actor places the wanted feeds on one worker actor per node by their measured
capacity and moves them when a worker or node dies; `scan --ray` spreads recordings as Ray tasks.
Ray is imported only here (pip install 'pinocchio[fleet]')."""
