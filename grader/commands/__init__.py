"""One module per ``ravine`` subcommand (see ``grader.cli``)."""
