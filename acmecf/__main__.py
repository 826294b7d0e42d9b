from acmecf.cli import main

main()
