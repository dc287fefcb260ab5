"""`python -m producer` is the `nlpbatch` command."""

from producer.cli import main

main()
