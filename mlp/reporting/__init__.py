"""Reports: metrics, the report structure and its JSON and Markdown renderings, plots, comparisons."""
