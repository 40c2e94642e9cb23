from universality.cli import main

main()
