"""A mutation fuzzer for the reading path: valid seed files of every input kind, mutated
reproducibly (`mutate`), read in a worker process as the command line and the app read them
before upscaling (`worker`), and judged (`runner`). `scripts/fuzz.py` runs it; the test suite
runs a few hundred cases and replays `tests/fuzz_regressions/`."""
