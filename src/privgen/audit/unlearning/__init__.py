"""Auditing an unlearned model: the DiMRA battery (regimes × budgets) scored against the retrain oracle.

`battery.run_attack` is the one attack runner (the unlearning benchmark uses it too); `run.run_audit` is
`privgen audit unlearning`.
"""
