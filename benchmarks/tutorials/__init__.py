"""Tutorial-style Keras scripts: what a user would otherwise copy.

`benchmarks.whole_command` times each of them as a whole process beside the
recipe that does the same job (`python -m recipes.<name>`). Each is a plain
script in the keras-io manner, on the recipes' digits split, and writes the
test accuracy to `metrics.json` in the folder given as its only argument.
"""
