"""What a reader sees: tables, the headline, plots, the plain-text summary and the HTML report."""
