"""SRA-MCTS Studio web UI (Gradio). One file per tab; no search logic lives here."""
