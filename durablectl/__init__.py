"""durablectl: the command line of durable-queue (`durablectl --help`)."""
