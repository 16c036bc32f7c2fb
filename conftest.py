pytest_plugins = ["flageval_platform.testing"]
