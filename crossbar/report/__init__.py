"""Reports of noise budgets and of the demo: Markdown, JSON and figures.

Reports read finished results (``crossbar.experiments.BudgetResult`` /
``DemoResult``) and never import the experiments back. Every file is written
atomically (``crossbar.atomic``), so an interrupted run never leaves a
half-written report.

    write_budget_report(run_budget(config))      # report.md, report.json, 3 PNGs in config.out
    write_demo_report(run_demo(DemoConfig()))
"""

from crossbar.report.budget import budget_markdown, budget_table, write_budget_report
from crossbar.report.demo import demo_data, demo_markdown, write_demo_report
from crossbar.report.demo_tables import readme_excerpt, replace_excerpt
from crossbar.report.figures import plot_accuracy_vs_noise, plot_aging, plot_latency, plot_pareto

__all__ = [
    "budget_markdown",
    "budget_table",
    "demo_data",
    "demo_markdown",
    "plot_accuracy_vs_noise",
    "plot_aging",
    "plot_latency",
    "plot_pareto",
    "readme_excerpt",
    "replace_excerpt",
    "write_budget_report",
    "write_demo_report",
]
