module imgauthz/goref

go 1.19
