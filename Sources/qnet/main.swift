print("qnet")
