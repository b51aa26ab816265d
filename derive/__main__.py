from derive.cli import main

main()
