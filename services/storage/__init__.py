"""The storage service: namespaces, ACLs and objects kept on 0G Storage."""
