"""Reference implementations: one formula per function, written to be read.

Each docstring gives the equation, where the notes state it, the conventions, and a small
example a reader can check by hand.  Loops are plain and arithmetic is float64.
"""
