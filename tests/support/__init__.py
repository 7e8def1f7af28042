"""What the test modules share besides conftest's fixtures: the IaC readers
(iac.py), the per-choice data (choices.py), the throwaway release
repositories (releases.py) and the image checks (images.py). A test module
imports from here and from conftest, never from another test module
(tests/test_groups.py checks)."""
