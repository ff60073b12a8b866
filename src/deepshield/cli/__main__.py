from deepshield.cli.main import main

main()
