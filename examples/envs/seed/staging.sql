-- Synthetic staging data the monthly refresh adds to the shadow database after verifying
-- it (`[refresh] seed_sql`): accounts QA logs in with, which production never holds.
INSERT INTO customers (email, full_name, phone)
VALUES ('qa@example.com', 'QA Account', '+1 555 0100');
