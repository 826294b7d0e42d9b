from acmecf.main import main

main()
