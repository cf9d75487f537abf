"""Reports of noise budgets, the demo and design-space explorations: Markdown, JSON and figures.

Reports read finished results (``crossbar.experiments.BudgetResult`` /
``DemoResult``) and never import the experiments back. Every file is written
atomically (``crossbar.atomic``), so an interrupted run never leaves a
half-written report.

    write_budget_report(run_budget(config))      # report.md, report.json, 3 PNGs in config.out
    write_demo_report(run_demo(DemoConfig()))
    write_explore_report(explore(config))         # report.md, report.json, front.png in config.out
"""

from crossbar.report.budget import budget_markdown, budget_table, write_budget_report
from crossbar.report.demo import demo_data, demo_markdown, write_demo_report
from crossbar.report.demo_tables import readme_excerpt, replace_excerpt, update_block
from crossbar.report.explore import explore_markdown, plot_front, write_explore_report
from crossbar.report.figures import plot_accuracy_vs_noise, plot_aging, plot_latency, plot_pareto

__all__ = [
    "budget_markdown",
    "budget_table",
    "demo_data",
    "demo_markdown",
    "explore_markdown",
    "plot_accuracy_vs_noise",
    "plot_aging",
    "plot_front",
    "plot_latency",
    "plot_pareto",
    "readme_excerpt",
    "replace_excerpt",
    "update_block",
    "write_budget_report",
    "write_demo_report",
    "write_explore_report",
]
