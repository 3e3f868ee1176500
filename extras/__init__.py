"""What runs from a checkout of the repository and is not installed with the package: the
fuzzer of the video readers (`fuzz`, run by `scripts/fuzz.py`), the soak of the web app
(`soak`, run by `scripts/soak.py`: it starts `app.py`), and the CUDA benchmarks (`bench_gpu`,
`bench_cuda`, run by `scripts/bench_gpu.sh`)."""
