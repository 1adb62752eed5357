"""`python -m durablectl`."""

from durablectl.cli import main

if __name__ == "__main__":
    main()
