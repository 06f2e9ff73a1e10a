"""Print the ids (Class.test_method) of every unittest case in one file.

cs_python_tests.cmake runs this at configure time so that ctest registers
exactly the cases the file defines, generated ones included: the module is
imported (not run) and asked through unittest's own loader, so inherited and
generated methods count and a regular expression cannot miss one. Usage:

    python3 cs_list_python_tests.py PATH/TO/test_file.py
"""
import importlib.util
import os
import sys
import unittest


def cases(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from cases(item)
        else:
            yield item


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = os.path.abspath(sys.argv[1])
    # The file's own folder first, as when it is run as a script, so that
    # its helper modules (harness.py, qt_testing.py, ...) import.
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    ids = set()
    for case in cases(unittest.TestLoader().loadTestsFromModule(module)):
        if isinstance(case, unittest.loader._FailedTest):
            sys.exit(f"{path}: {case.id()} failed to load")
        ids.add(case.id().split(".", 1)[1])
    for test_id in sorted(ids):
        print(test_id)


if __name__ == "__main__":
    main()
