"""The Gradio app: one file per tab, plus pure helpers (forms, plots, tables) that tests call directly."""
