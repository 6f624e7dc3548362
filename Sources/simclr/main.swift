print("simclr")
