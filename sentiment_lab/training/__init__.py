"""The training engine: run config, data, models and methods, the loop; it knows nothing of queues or Gradio."""
