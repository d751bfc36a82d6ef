"""Two organisations' files from UCI Adult: a bank and an insurer, different customers partly shared."""
import sys
import numpy as np
from privgen.data.tables import load_table
root = sys.argv[1]
df = load_table("adult").frame.iloc[:4000].reset_index(drop=True)
rng = np.random.default_rng(7)
ids = np.array([f"C{v:07d}" for v in rng.choice(10**7, len(df), replace=False)])
bank = df[["age", "education", "occupation", "income"]].assign(customer_id=ids)
insurer = df[["hours_per_week", "sex", "marital_status"]].assign(customer_id=ids)
# each keeps 3,000 of the 4,000 customers (2,000 shared by both), in its own order
keep_b = np.r_[0:3000]
keep_i = np.r_[1000:4000]
bank.iloc[rng.permutation(keep_b)].to_csv(f"{root}/bank-node/bank.csv", index=False)
insurer.iloc[rng.permutation(keep_i)].to_csv(f"{root}/insurer-node/insurer.csv", index=False)
print("bank rows", len(keep_b), "insurer rows", len(keep_i), "shared", len(set(keep_b) & set(keep_i)))
