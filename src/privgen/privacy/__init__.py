"""Differential privacy for VFL training (DESIGN §10): accountants, mechanisms, schemas, budgets."""
