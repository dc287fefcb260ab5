"""The nlpbatch producer: reads corpora, cuts them into chunks, runs or queues jobs; the CLI."""
