"""The read side: reports, the HTML page, plots, statistics, comparison tables and the live view. It reads folds
(storage.fold.RunState) and starts nothing: it imports storage/ and tools/, never the engine or the command line."""
