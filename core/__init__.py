"""SRA-MCTS Studio core: search engine, tree model, prompts, backends. Never imports gradio."""
