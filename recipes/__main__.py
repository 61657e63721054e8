"""Lists every recipe: `python -m recipes`."""

from recipes import list_recipes


def main() -> None:
    recipes = list_recipes()
    width = max(map(len, recipes), default=0)
    print("Recipes (run one with: python -m recipes.<name> [--help]):\n")
    for name, summary in recipes.items():
        print(f"  {name:<{width}}  {summary}")


if __name__ == "__main__":
    main()
