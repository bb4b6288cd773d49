"""Fuzzing and sanitizer runs (RELIABILITY.md). The file-format fuzzers (coverage-guided, atheris):

- `targets`: one function per file tinyq reads (.tflite, .npy/.npz, board JSON, build.json, Keras) that runs
  one input through the code that reads it and enforces the contract (a result, or a BadInput /
  UnsupportedModel of one line; nothing else);
- `mutate`: structure-aware mutations (the .tflite flatbuffer schema's object API, JSON documents, the
  config.json of a .keras archive);
- `seeds`: the seed corpora, written reproducibly from the suite's models and generators;
- `run`: the atheris entry (`python -m tests.fuzz.run TARGET ...`), with per-input limits;
- `campaign`: `make fuzz`, every target for FUZZ_SECONDS, a summary per target.

Development tooling, not product: it lives under tests/ (no wheel, no layer contract) and needs the
`fuzz` extra (atheris). The other files here (the firmware protocol's libFuzzer harness, the sanitizer
runs) are described in RELIABILITY.md's sections of their own.
"""
