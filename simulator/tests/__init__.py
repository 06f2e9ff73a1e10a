# Self-tests of the simulator; run from the repository root with
#   python3 -m unittest discover -s simulator/tests -t simulator
