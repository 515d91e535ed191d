"""What the house tests count over: the product is every .py file outside tests/ and benchmarks/ (hidden folders and
conftest.py left out); shared by tests/test_lazy_imports.py, test_private_imports.py, test_one_extension_list.py and
test_no_path_edits.py."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ('tests', 'benchmarks')


def product_files(root=ROOT):
    return [p for p in sorted(root.rglob('*.py')) if p.relative_to(root).parts[0] not in OUTSIDE
            and not any(part.startswith('.') for part in p.relative_to(root).parts) and p.name != 'conftest.py']
