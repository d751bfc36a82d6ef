"""Differential privacy for VFL training: accountants, mechanisms, schemas, budgets."""
