"""The engine: the orchestrator (runs, resume, replay), the trial context, the strategies and the agent's
middleware, the evaluators. It writes the log; it imports the LLM layer, tools/ and storage/, never the read side
or the command line."""
