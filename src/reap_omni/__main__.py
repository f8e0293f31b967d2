from reap_omni.cli import main

main()
